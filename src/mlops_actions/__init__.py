"""mlops-actions: reusable GitHub Actions for MLOps on Azure Machine Learning."""

__version__ = "1.0.0"

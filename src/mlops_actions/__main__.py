# Written so that any Python 3 can parse it: the version check must run before the package's
# own modules, which need 3.10, are imported.
import sys

MINIMUM = (3, 10)

if sys.version_info < MINIMUM:
    print(
        "::error title=Python too old::mlops-actions needs Python %d.%d or newer, and this runner "
        "has %s. Fix: add actions/setup-python with python-version: '3.12' before this step."
        % (MINIMUM + (sys.version.split()[0],))
    )
    sys.exit(1)

from mlops_actions.cli import main  # noqa: E402

sys.exit(main())

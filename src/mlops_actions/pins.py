"""The third-party actions this library's workflows use, pinned to full commit SHAs (tag -> commit,
read from each action's own repository). One place to update them."""

PINS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "azure/login": ("f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca", "v3.0.1"),
}


def pinned(action: str) -> str:
    """`owner/name@sha # vX.Y.Z`, as a workflow's `uses:` line wants it."""
    sha, version = PINS[action]
    return f"{action}@{sha} # {version}"

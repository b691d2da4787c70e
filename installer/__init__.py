"""The installer: registers the native-messaging host with each browser and OS, sets up the
daemon's autostart, fetches model weights, and undoes exactly what it did.

One job per module:

- ``ids``: the host name and the pinned extension IDs (the defaults live only there).
- ``table``: where each browser looks for host manifests, per OS and scope (data, not code).
- ``context``: the machine being planned for (OS, scope, environment, Python environment).
- ``manifest``: the host manifest for each browser family, and a validator of each one's rules.
- ``launcher``: the scripts the manifest and autostart point at.
- ``autostart``: the login entry that starts the daemon.
- ``plan``: everything an install would write, as a list of items (nothing is written).
- ``apply``: writes a plan, or removes a receipt's items, through ``fsys`` and ``registry``.
- ``receipt``: the record of what was written, so uninstall removes exactly that.
- ``cli``: ``cloaker install`` and ``cloaker uninstall``.
"""

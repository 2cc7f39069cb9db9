"""What every component of parta shares, and nothing else: ids, configuration, secrets,
storage, the Matrix client, and the contracts between processes. Imports no component."""

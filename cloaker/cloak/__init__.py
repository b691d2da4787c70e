"""The cloak: the optimization that moves every face away from its owner's identity."""

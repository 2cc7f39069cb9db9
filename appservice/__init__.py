"""The application service: transactions in, linking, tokens, and the sync's executor."""

"""Price feed: simulator, Backpack WebSocket or replay file, published to `engine_input`."""

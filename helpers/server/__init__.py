"""The simulated OpenAI server."""

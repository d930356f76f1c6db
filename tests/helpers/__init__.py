"""What several test modules share: import from here, not from another test module."""

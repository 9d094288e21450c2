"""Named cases the system run found: each is the shrunk sequence Hypothesis printed, pasted
as it was, so it replays the same steps with the same checks whenever the suite runs."""

"""Executable reference models: plain Python statements of what the system must do, that the
conformance tests hold the fake and the runtime against. They import nothing from onemount."""

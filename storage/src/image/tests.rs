//! Unit tests over images built in memory.

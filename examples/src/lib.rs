//! Runnable examples on the in-process CA and agent, and on a fleet server with node agents

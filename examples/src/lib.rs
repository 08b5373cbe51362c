//! Runnable examples on the in-process CA and agent

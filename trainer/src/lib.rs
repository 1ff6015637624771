//! rrae trainer (work in progress).

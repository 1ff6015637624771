#![no_std]
//! rrae runtime (work in progress).

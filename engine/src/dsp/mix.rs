//! Channel down-mix and up-mix. (Written next.)

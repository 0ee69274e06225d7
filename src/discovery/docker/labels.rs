//! Container labels → endpoint (control plane, pure). Filled in by the next commit.

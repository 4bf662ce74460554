oracle: add_span arena: expected Ok, got Err(Wraps)

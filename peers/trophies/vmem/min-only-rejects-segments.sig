oracle: alloc source: expected a placement, got Err(NoSpace)

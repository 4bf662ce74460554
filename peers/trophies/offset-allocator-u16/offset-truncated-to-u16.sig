oracle: alloc arena: expected a placement, got overlaps a live allocation

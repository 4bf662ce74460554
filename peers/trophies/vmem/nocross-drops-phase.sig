oracle: alloc arena: expected a placement, got misaligned (align/phase)

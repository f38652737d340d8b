"""What customers are charged by hand: custom line items (and, later, the rest of the catalog)."""

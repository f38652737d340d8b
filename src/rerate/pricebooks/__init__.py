"""Price books and tariff decks: effective-dated versions, drafts and publishing,
CSV import and export, comparing versions (docs/administration/pricebooks.md)."""

"""Sessions: the record's rules (pure), its DynamoDB item, and the store that applies the rules."""

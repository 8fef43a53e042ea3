"""Events leaving the store: followed as they commit (`tail`), written out as files
(`export`), and deleted past their retention (`retention`)."""

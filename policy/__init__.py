"""streamgate's CrossGuard policy pack: the invariants that make the API stream, checked on every preview and up."""

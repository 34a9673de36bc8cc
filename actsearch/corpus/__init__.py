"""The dataset corpus: KEEL tables, the evaluation protocol and the shipped knowledge base."""

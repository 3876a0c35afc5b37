"""The synthetic merchant network: a world of honest merchants with planted rings and credit outcomes."""

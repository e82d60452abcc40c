"""The use cases of the `Empire` facade, one mixin per group; `empire.core` composes them."""

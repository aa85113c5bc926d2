"""The task card: what a task is and what its owner offers (architecture, weights, augmentation, co-training)."""

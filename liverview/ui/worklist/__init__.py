"""The worklist of a project of many studies, and the review that runs across them."""

"""The lesion harvester's loop without Qt: lesion scores, the precision threshold, harvested positives,
hard negatives, and one harvest round's report (Cai et al. 2020)."""

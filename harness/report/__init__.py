"""From runs to a verdict: analysis, economics, the verdict rule, notebooks and HTML."""

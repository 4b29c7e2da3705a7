"""The hunt: searching fault schedules for the smallest one that breaks an invariant."""

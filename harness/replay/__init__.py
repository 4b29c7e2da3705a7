"""Sending the plan to the workflow: signing, delivery, toxic windows."""

"""streamcheck: call a streamgate endpoint and tell whether the answer really streamed, with the figures."""

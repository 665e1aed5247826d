"""Watching: keep the library equal to the disk while the app runs.

- events.py: watchdog's events, filtered and posted to the loop (EventHandler)
- burst.py: events coalesced per path into batches once a burst is over (Burst)
- backends.py: native or polling observers per root, restarted when they die (Observers)
- loop.py: the Watcher, whose run() is the watch job
"""

from photoclip.core.watching.loop import Watcher

__all__ = ["Watcher"]

"""The duty manager's board: a live web page on the bot's HTTP server, signed in through the bot.

auth.py    one-time links, the session cookie, CSRF (no aiohttp: the chat command uses it)
snapshot.py what the board shows, read from the store for one person's branches
act.py     acting: the chat's own buttons and commands, pressed by the signed-in person
live.py    the engine's "committed" notice, and each board's event stream
web.py     pages, sessions and the stream on aiohttp; pages.py and review.py: the routes
"""

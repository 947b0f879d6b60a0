"""leasebox.conf: the settings table, the pure parser, and the file layout.

settings.py  every setting (section, key, parser, default, help, which process reads it)
values.py    the value parsers
parse.py     (file name, text) pairs -> Config, with the source of every value
files.py     which files, in which order, under which root; reading them
docs.py      the man page and the commented-out default file, from the table

The engine and netconf each read the configuration themselves and take only their own
part of it (Config.view); neither takes settings from the other. The engine reads it at
its start; netconf serves each engine by the files as they were then (netconf.startconfig).
"""

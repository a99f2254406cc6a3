"""The portal's parts, one package each: `<part>/__init__.py` creates its blueprints and
wires them (`register(app)`); `public.py` holds its public pages, `staff.py` its pages
in the staff area, and `common.py` what the two share. `shared.py` serves every part."""

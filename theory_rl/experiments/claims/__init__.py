"""The registered claims, one subpackage per algorithm family.

``claims/<family>/<claim>.py`` is one claim (the interface is in
:mod:`theory_rl.experiments.base`); a module whose name starts with ``_`` holds what the claims of
its family share and is not a claim.  :mod:`theory_rl.experiments.registry` discovers every
module exposing ``CLAIM``; a new family is a new subpackage (with an ``__init__.py``), nothing
else to register.
"""

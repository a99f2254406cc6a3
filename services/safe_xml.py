"""The one way the portal reads XML from outside (cXML orders, the bank's camt files):
no entities resolved, no DTD loaded, nothing fetched from the network, no huge trees."""

from __future__ import annotations

from lxml import etree


def hardened_parser() -> etree.XMLParser:
    """An lxml parser for a document from outside, comments and processing instructions
    dropped."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )

"""HTML read as elements, so a test asks what is on the page and not in which order the attributes are written."""

from dataclasses import dataclass
from html.parser import HTMLParser


@dataclass
class Element:
    tag: str
    attrs: dict
    text: str = ""  # the text right after the start tag, up to the next tag

    @property
    def id(self):
        return self.attrs.get("id") or ""

    def has(self, **attrs):
        """Has these attributes with these values: aria_label="..." for aria-label, class_="..." for class."""
        return all(self.attrs.get(name.rstrip("_").replace("_", "-")) == value for name, value in attrs.items())


class Reader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []
        self.last = None

    def handle_starttag(self, tag, attrs):
        self.last = Element(tag, {name: value if value is not None else "" for name, value in attrs})
        self.elements.append(self.last)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self.last = None

    def handle_endtag(self, tag):
        self.last = None

    def handle_data(self, data):
        if self.last is not None:
            self.last.text += data


def elements(html, tag=None, **attrs):
    """The page's elements in document order, those of `tag` with `attrs` when given."""
    reader = Reader()
    reader.feed(html)
    reader.close()
    return [e for e in reader.elements if (tag is None or e.tag == tag) and e.has(**attrs)]


def by_id(html, element_id):
    found = elements(html, id=element_id)
    assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
    return found[0]


def ids(html, prefix, tag=None):
    """The ids that start with `prefix`, in document order."""
    return [e.id for e in elements(html, tag) if e.id.startswith(prefix)]


def has_element(html, tag, text=None, **attrs):
    return any(text is None or e.text.strip() == text for e in elements(html, tag, **attrs))

"""Requests the site refuses before any view reads them."""

from django.http import HttpResponseBadRequest


def refuse_nul_characters(get_response):
    """A NUL in the path or the query string is a 400: PostgreSQL refuses it in a literal, so any lookup with it
    would be a 500 on PostgreSQL and a quiet miss on SQLite."""

    def middleware(request):
        texts = [request.path]
        for name, values in request.GET.lists():
            texts += [name, *values]
        if any("\x00" in text for text in texts):
            return HttpResponseBadRequest("NUL characters are not allowed in a URL.")
        return get_response(request)

    return middleware

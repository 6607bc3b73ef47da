"""Search as a user: staff see exactly what one user (or a service account acting for one) would get.

The search runs through :func:`retrieval.services.search_run` as that user, so it
is audited as their search, with the staff member recorded in the event's details.
"""

from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from acl.models import ServiceAccount
from ragplatform.exceptions import ApplicationError
from retrieval.services import search_run
from sources.models import Source

SEARCH_AS_USER_PERMISSION = "acl.search_as_user"
SEARCH_MODES = ("hybrid", "vector", "keyword")  # as POST /api/v1/search takes them


class SearchAsUserForm(forms.Form):
    query = forms.CharField(max_length=2000, widget=forms.TextInput(attrs={"class": "wide", "autofocus": True}))
    username = forms.CharField(label="as user", max_length=150, required=False)
    service_account = forms.ModelChoiceField(
        label="through service account",
        queryset=ServiceAccount.objects.select_related("user"),
        required=False,
        empty_label="none",
    )
    mode = forms.ChoiceField(choices=[(mode, mode) for mode in SEARCH_MODES], required=False)
    k = forms.IntegerField(min_value=1, initial=10, required=False)

    def clean(self):
        cleaned = super().clean()
        account, username = cleaned.get("service_account"), (cleaned.get("username") or "").strip()
        cleaned["user"] = None
        if username:
            cleaned["user"] = get_user_model().objects.filter(username=username).first()
            if cleaned["user"] is None:
                self.add_error("username", f"No user named {username!r}.")
                return cleaned
        if account is None:
            if cleaned["user"] is None:
                self.add_error("username", "Pick the user to search as, or a service account.")
            return cleaned
        if cleaned["user"] is None or cleaned["user"] == account.user:
            cleaned["user"] = account.user  # the account searching as itself
        elif not account.may_act_on_behalf:
            self.add_error("service_account", f"{account} may not act on behalf of users.")
        return cleaned


@dataclass(frozen=True)
class ResultRow:
    hit: object
    source_name: str


def search_as_user_view(request):
    if not request.user.has_perm(SEARCH_AS_USER_PERMISSION):
        raise PermissionDenied
    form = SearchAsUserForm(request.POST or None, initial={"mode": settings.SEARCH_DEFAULT_MODE, "k": 10})
    outcome, rows, error = None, [], ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        account = data.get("service_account")
        try:
            outcome = search_run(
                user=data["user"],
                query=data["query"],
                k=min(data.get("k") or 10, settings.SEARCH_MAX_K),
                mode=data.get("mode") or None,
                service_account=account,
                audit_details={"console_actor": {"id": request.user.pk, "username": request.user.get_username()}},
            )
        except ApplicationError as exc:
            error = exc.message
        else:
            names = dict(
                Source.objects.filter(pk__in={hit.source_id for hit in outcome.results}).values_list("pk", "name")
            )
            rows = [ResultRow(hit, names.get(hit.source_id, f"source {hit.source_id}")) for hit in outcome.results]
    context = {
        **admin.site.each_context(request),
        "title": "Search as a user",
        "form": form,
        "outcome": outcome,
        "rows": rows,
        "error": error,
        "searched_as": form.cleaned_data.get("user") if outcome else None,
        "usernames": get_user_model()
        .objects.filter(is_active=True)
        .order_by("username")
        .values_list("username", flat=True)[:500],
    }
    return TemplateResponse(request, "console/search_as_user.html", context)

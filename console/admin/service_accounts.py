"""Console pages of service accounts and their API keys (keys are issued through the API, which shows a key once)."""

from django.contrib import admin, messages

from acl.models import ApiKey, ServiceAccount
from acl.services import api_key_revoke, service_account_create
from ragplatform.exceptions import ApplicationError


@admin.register(ServiceAccount)
class ServiceAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "may_act_on_behalf", "created_at"]
    fields = ["name", "may_act_on_behalf", "user", "created_by", "created_at"]
    readonly_fields = ["user", "created_by", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        # The name is the account's user name too (svc-NAME): fixed once created.
        return [*self.readonly_fields, "name"] if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["may_act_on_behalf"])
            return
        try:
            account = service_account_create(name=obj.name, may_act_on_behalf=obj.may_act_on_behalf, actor=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            raise
        obj.pk = account.pk
        obj.refresh_from_db()


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created and rotated through the API, which shows a key once; revoked here or there."""

    list_display = ["service_account", "prefix", "created_at", "revoked_at"]
    list_filter = ["service_account"]
    readonly_fields = ["service_account", "prefix", "key_hash", "created_by", "created_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_revoke_permission(self, request, obj=None):
        return request.user.has_perm("acl.change_serviceaccount")

    @admin.action(description="Revoke the selected keys", permissions=["revoke"])
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(key=key, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)

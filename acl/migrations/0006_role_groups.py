"""The three ready-made staff groups (operator, access admin, auditor) with their permissions.

A frozen copy of ``acl.roles.ROLE_PERMISSIONS`` as it was when this migration was written;
tests/security/test_staff_permissions.py checks the two still agree.
"""

from django.db import migrations

ROLE_PERMISSIONS = {
    "operator": (
        "sources.add_source",
        "sources.change_source",
        "sources.delete_source",
        "sources.view_source",
        "sources.sync_source",
        "sources.view_syncjob",
        "sources.purge_document",
        "index_versions.activate_indexversion",
        "index_versions.add_indexversion",
        "index_versions.change_indexversion",
        "index_versions.view_indexversion",
    ),
    "access admin": (
        "acl.add_sourcegrant",
        "acl.delete_sourcegrant",
        "acl.view_sourcegrant",
        "auth.add_group",
        "auth.change_group",
        "acl.add_serviceaccount",
        "acl.change_serviceaccount",
        "acl.view_serviceaccount",
        "acl.search_as_user",
        "sources.view_source",
    ),
    "auditor": (
        "acl.view_auditevent",
        "retrieval.view_feedback",
        "sources.view_source",
        "sources.view_syncjob",
        "index_versions.view_indexversion",
        "acl.view_sourcegrant",
        "acl.view_serviceaccount",
    ),
}


def create_role_groups(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create them now.
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, permissions in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for permission in permissions:
            app_label, codename = permission.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("acl", "0005_permissions_refusal_actions"),
        ("sources", "0005_permissions"),
        ("index_versions", "0011_permissions"),
        ("retrieval", "0004_duplicatemember_to_index_versions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]

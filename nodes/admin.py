from django.contrib import admin

from config.admin import StaffModelAdmin
from nodes.models import Location, Node


@admin.register(Location)
class LocationAdmin(StaffModelAdmin):
    list_display = ("name", "description")
    search_fields = ("name",)


@admin.register(Node)
class NodeAdmin(StaffModelAdmin):
    list_display = ("name", "location", "docker_url", "is_online", "maintenance_mode", "last_seen_at")
    list_filter = ("is_online", "maintenance_mode", "location")
    list_select_related = ("location",)
    search_fields = ("name", "hostname", "public_address")
    exclude = ("ssh_private_key",)

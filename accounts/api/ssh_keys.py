"""A user's own SSH public keys, for the SFTP gateway: list, add, delete (`/api/account/ssh-keys`)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets

from accounts.models import SSHKey
from accounts.sshkeys import ssh_key_add, ssh_key_delete
from config.api.responses import created, ok


class SSHKeySerializer(serializers.ModelSerializer):
    public_key = serializers.CharField(
        max_length=16 * 1024, help_text="One OpenSSH public key line: 'ssh-ed25519 AAAA… comment'."
    )

    class Meta:
        model = SSHKey
        fields = ["id", "name", "public_key", "fingerprint", "created_at", "last_used_at"]
        read_only_fields = ["id", "fingerprint", "created_at", "last_used_at"]


@extend_schema(tags=["ssh keys"])
class SSHKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SSHKeySerializer

    def get_queryset(self):
        return SSHKey.objects.filter(user=self.request.user)

    @extend_schema(request=SSHKeySerializer, responses={201: SSHKeySerializer})
    def create(self, request):
        """Register a public key: log in to SFTP with it as `<username>.<server id's first 8>`."""
        data = SSHKeySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = ssh_key_add(user=request.user, request=request, **data.validated_data)
        return created(SSHKeySerializer(key).data, message="SSH key added")

    @extend_schema(responses={200: None})
    def destroy(self, request, pk=None):
        """Remove a key; SFTP sessions opened with it are closed within seconds."""
        ssh_key_delete(key=self.get_object(), actor=request.user, request=request)
        return ok(message="SSH key removed")

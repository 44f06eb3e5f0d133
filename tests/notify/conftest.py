"""Fixtures of the channel tests: Vonage as the SMS/voice gateway."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from app.config import Settings
from tests.notify.services import VONAGE_APPLICATION, VONAGE_KEY, VONAGE_SECRET, Services


@pytest.fixture(scope="session")
def vonage_private_key() -> rsa.RSAPrivateKey:
    """The Vonage application's key; the stand-in checks the calls' JWTs with its public half."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def vonage(
    settings: Settings, services: Services, vonage_private_key: rsa.RSAPrivateKey
) -> Settings:
    """The suite's settings with Vonage as the gateway, pointed at the stand-ins."""
    services.vonage_public_key = (
        vonage_private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    pem = vonage_private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return settings.model_copy(
        update={
            "sms_gateway": "vonage",
            "vonage_rest_base_url": services.url("/vonage-rest"),
            "vonage_api_base_url": services.url("/vonage-api"),
            "vonage_api_key": VONAGE_KEY,
            "vonage_api_secret": SecretStr(VONAGE_SECRET),
            "vonage_from_number": "+14155550100",
            "vonage_application_id": VONAGE_APPLICATION,
            "vonage_private_key": SecretStr(pem),
            "destination_min_interval_seconds": {},
        }
    )

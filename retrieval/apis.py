from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from retrieval import selectors
from retrieval.serializers import SearchInputSerializer, SearchOutputSerializer


class SearchApi(APIView):
    @extend_schema(
        request=SearchInputSerializer,
        responses=SearchOutputSerializer,
        summary="The k passages nearest to the query among those the caller may read",
    )
    def post(self, request):
        serializer = SearchInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = selectors.search(user=request.user, **serializer.validated_data)
        return Response(SearchOutputSerializer(outcome).data)
